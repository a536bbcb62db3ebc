"""Files: the raw event contract, importers of users' data, atomic writers.

Modules: :mod:`.raw` (raw event files), :mod:`.califa_csv` and :mod:`.root_import` (users' data),
:mod:`.files` (atomic writes, JSON, tables), :mod:`.rootfile` (opening ROOT files), :mod:`.chunks`.
"""
