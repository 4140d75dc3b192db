"""Server-rendered portal pages: login, enterprise authentication, the consent screen and
"my consents". Simplified Chinese by default, English with ``?lang=en`` (remembered in a
cookie)."""
