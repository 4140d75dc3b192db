"""The synthetic province: enterprises, department data, banks, products and a loan history
generated from a documented latent-risk process (see ``docs/synthetic.md``). Everything it
makes is SYNTHETIC and flagged so."""
