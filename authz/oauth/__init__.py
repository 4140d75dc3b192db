"""The OAuth 2 authorization server for bank clients, built on Authlib's grants."""
