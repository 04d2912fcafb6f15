"""Cache backends, one module each, all implementing `base.CacheStore`."""
