"""The platform core and web host of the SME financing data-service platform."""
