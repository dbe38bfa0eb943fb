"""Glue for the servers a service runs under (one module per server: where
its signal set-up runs, its fork hook, its worker identity).  Each module is
imported only when that server is in the process; this package imports none
of them."""
