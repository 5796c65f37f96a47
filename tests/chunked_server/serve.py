"""Run the drf-chunked-upload test site: migrate its SQLite db, make user ``alice`` (password
``wonderland``) with token TOKEN, serve on 127.0.0.1 (a free port unless given), and print
``{"port": N}`` once listening. Threaded WSGI (wsgiref), one request per connection.

Usage: python serve.py --dir DIR [--port N]
"""

import argparse
import json
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

TOKEN = "0123456789abcdef0123456789abcdef01234567"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(os.path.join(args.dir, "media"), exist_ok=True)
    os.environ["CHUNKED_DB"] = os.path.join(args.dir, "site.sqlite3")
    os.environ["CHUNKED_MEDIA"] = os.path.join(args.dir, "media")
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="alice")
    user.set_password("wonderland")
    user.save()
    Token.objects.get_or_create(user=user, key=TOKEN)
    server = make_server(
        "127.0.0.1",
        args.port,
        get_wsgi_application(),
        server_class=_Server,
        handler_class=_QuietHandler,
    )
    print(json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
