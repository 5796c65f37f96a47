"""Django settings of the test site that takes drf-chunked-upload uploads (see serve.py)."""

import os
from datetime import timedelta

SECRET_KEY = "upqueue-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_chunked_upload",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "chunked_urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["CHUNKED_DB"]}}
MEDIA_ROOT = os.environ["CHUNKED_MEDIA"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# Chunks bigger than Django's default 2.5 MB go to temporary files, as on a real site.
DATA_UPLOAD_MAX_MEMORY_SIZE = None
DRF_CHUNKED_UPLOAD_ABSTRACT_MODEL = False
DRF_CHUNKED_UPLOAD_EXPIRATION_DELTA = timedelta(days=1)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "chunked_auth.BearerTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
