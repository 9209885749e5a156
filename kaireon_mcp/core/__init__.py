"""Pure decisioning logic: no database, no I/O, only values in and values out."""
