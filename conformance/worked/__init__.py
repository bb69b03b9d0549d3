"""The documents' worked numbers: the ledger of every number they print (``worked``),
the worked cases (``cases/``), their graphs and the n + p step counts."""
