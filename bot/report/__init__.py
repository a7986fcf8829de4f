"""The yearly (and half-year) report to the province (issue 14, docs/report.md): figures in SQL
(``figures``), the province's targets (``targets``), the tables every format shares
(``tables``), CSV / XLSX / HTML (``writers``), PNG charts (``png``), the periods (``period``)."""

#: the formats ``bot report --format`` writes (bot/report/writers.py)
FORMATS = ("xlsx", "csv", "html")
