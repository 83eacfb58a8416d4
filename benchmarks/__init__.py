"""Search spaces (one package each); they register themselves with `@register_benchmark`."""
