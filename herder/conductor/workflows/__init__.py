"""The conductor's workflows, one module per operation."""
