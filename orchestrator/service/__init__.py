"""Service mode: the HTTP API (`crossdesk serve`) and broker workers (`crossdesk worker`)."""
