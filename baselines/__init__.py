"""Baseline zero-cost proxies (one module each); they register themselves with `@register_proxy`."""
