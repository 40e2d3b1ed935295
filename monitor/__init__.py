"""delivermon daemon and CLI: config, composition, reports (and later scheduler, store, HTTP)."""
