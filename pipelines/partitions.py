"""One dynamic partition per raw file; the key is the file's path relative to the landing folder."""

import dagster as dg

raw_files = dg.DynamicPartitionsDefinition(name="raw_files")
