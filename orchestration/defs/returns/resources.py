"""The pseudonym key as a Dagster resource.

Production: FAMILYHUB_PSEUDONYM_KEY in the environment, read through `dg.EnvVar` (Dagster shows the variable's
name in the UI, never its value). Demo and tests: when it is unset, a random key generated once and kept in a
file under the data folder (<data_dir>/secrets/pseudonym_demo.key, git-ignored with the data folder); the
resource holds the file's path, not the key, and every manifest says `pseudonym_key: demo`.
"""

from pathlib import Path

import dagster as dg

from orchestration.lib.settings import Settings, pseudonym_key_configured
from returns.pseudonyms import ENV_VAR, Pseudonymiser, PseudonymKeyError, demo_key_path, load_or_create_key

KEY_FROM_ENVIRONMENT = "environment"
KEY_FROM_DEMO_FILE = "demo"


class PseudonymKeyResource(dg.ConfigurableResource):
    key: str | None = None  # set from dg.EnvVar(FAMILYHUB_PSEUDONYM_KEY)
    demo_key_file: str | None = None  # used only when no key is set

    @property
    def source(self) -> str:
        return KEY_FROM_ENVIRONMENT if self.key else KEY_FROM_DEMO_FILE

    def pseudonymiser(self) -> Pseudonymiser:
        if self.key:
            return Pseudonymiser(self.key)
        if self.demo_key_file:
            return Pseudonymiser(load_or_create_key(Path(self.demo_key_file)))
        raise PseudonymKeyError(f"no pseudonym key: set {ENV_VAR}")


def pseudonym_key_resource(settings: Settings) -> PseudonymKeyResource:
    if pseudonym_key_configured():
        return PseudonymKeyResource(key=dg.EnvVar(ENV_VAR))
    return PseudonymKeyResource(demo_key_file=str(demo_key_path(settings.data_dir)))
