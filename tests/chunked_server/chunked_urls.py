"""drf-chunked-upload's view at api/chunkedupload/ (create) and api/chunkedupload/<id>/."""

from django.urls import path
from drf_chunked_upload.views import ChunkedUploadView

urlpatterns = [
    path("api/chunkedupload/", ChunkedUploadView.as_view(), name="chunkedupload-list"),
    path("api/chunkedupload/<uuid:pk>/", ChunkedUploadView.as_view(), name="chunkedupload-detail"),
]
