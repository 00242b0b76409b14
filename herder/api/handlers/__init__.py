"""One module per resource. Each handler reads top to bottom in the same order: policy, wanted
microversion, body validation, the domain call, domain errors mapped to API errors, the view."""
