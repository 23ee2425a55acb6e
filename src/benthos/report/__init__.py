"""Self-contained HTML reports: everything (plots, thumbnails) embedded, readable offline."""
