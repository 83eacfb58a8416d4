"""AZ-NAS proxies; modules here register themselves with `@register_proxy`."""
