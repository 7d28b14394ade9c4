"""Family Data Hub returns: specifications, pseudonyms, reproducible CSV/XLSX writers, the analyst workbook.

See returns/README.md. Dagster assets live in orchestration/defs/returns/.
"""
