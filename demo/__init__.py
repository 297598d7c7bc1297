"""``make demo``: the console with a local IdP and DNS server (demo.stack)."""
