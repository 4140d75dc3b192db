"""Financial institutions (banks) that take part in the platform."""
