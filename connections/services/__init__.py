"""Every state change is one function here: it checks permission, writes the
audit row in the same transaction, and queues side effects on commit."""
