"""DRF's token authentication answering to ``Authorization: Bearer <key>``."""

from rest_framework.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    keyword = "Bearer"
