"""Who may do what: users and roles, the OAuth 2 authorization server, consents, audit."""
