"""Users, roles, password login and enterprise authentication (认证)."""
