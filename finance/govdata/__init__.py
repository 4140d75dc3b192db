"""The government data hub: data categories, their tables and read services."""
