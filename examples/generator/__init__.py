"""Synthetic departmental extracts for a registry, with exactly counted defects.

``generate(registry, out_dir, rows, seed, today=None) -> Manifest`` writes each dataset's extract
in its declared format (CSV, Excel, Parquet, JSON), encoding (UTF-8, UTF-8 with BOM, GBK,
GB18030) and delimiter, with the dataset's source column names as header, to
``out_dir/<landing or landing/<provider>/<code>>/<code>.<csv|xlsx|parquet|json>``. JSON extracts are
newline-delimited records (one object per line) in a ``.json`` file. ``out_dir/manifest.json``
records per dataset: file, sha256, rows and the exact defect counts per column and type.

Sizes: ``rows`` is the row count of the largest dataset; each other dataset gets a share by its
classification (basic 1.0, thematic 0.6, departmental 0.35) × format (csv/parquet 1.0, json 0.5,
excel 0.3) × a stable 0.6–1.0 factor from its code; Excel extracts hold at most 20,000 rows.

Values come from the element's domain (check digit, code list, date, range, pattern), then from
keywords of its names (person, company, address, phone, ...), then a string of fitting length.
An element's values form one pool per element (seeded by the element code): a dataset keyed by
it takes distinct values from the pool, others draw from it, so joins on e.g. ``uscc`` match.

Default defect rates (``DEFECT_RATES``; count = ``round(rate × rows)`` per column or dataset):

==================  ======  ========================================================
defect              rate    where
==================  ======  ========================================================
``check_digit``     0.5 %   values of each check-digit column (wrong last character)
``null``            0.3 %   values of each required column (``Registry.column_required``)
``out_of_domain``   0.2 %   values of each ``codes`` / ``code_list`` column
``duplicate_key``   0.1 %   rows of each dataset with key columns (copies another key)
``pattern``         0.2 %   values of each non-key text column with a ``pattern``
``range``           0.2 %   values of each non-key numeric column with ``min`` / ``max``
``length``          0.2 %   values of each non-key column with ``length`` limits
``date_format``     0.2 %   values of each non-key column with a ``date_format``
==================  ======  ========================================================

A pattern, range, length or date-format defect breaks that one rule and keeps every other; where
no value can (a wrong length of an identifier breaks its check character too) that kind is not
injected in that column. A date that is no date in a ``date``/``datetime`` column is set aside by
ingestion with its row, so such rows carry no other defect.
Optional columns are also left empty in 2 % of rows (``BLANK_RATE``); that is not a defect.
Defects never mask one another, so a quality check recounts exactly the manifest's numbers.
Same registry, rows, seed and ``today`` → byte-identical files.
"""

from examples.generator.core import Manifest, dataset_rows, generate
from examples.generator.defects import BLANK_RATE, DEFECT_RATES

__all__ = ["BLANK_RATE", "DEFECT_RATES", "Manifest", "dataset_rows", "generate"]
