"""A real Keystone for tests and the tempest run: SQLite in a temporary directory, served by uWSGI
on a free loopback port, from its own virtualenv (`scripts/keystone/install.sh`).

Setting it up is what an operator does: `keystone-manage db_sync`, `fernet_setup`,
`credential_setup`, `bootstrap`; then `register_herder` adds herder's services and endpoints to
the catalog and the users the tests log in as. Two settings keep it fast enough for tests: an
in-memory token cache (validation 1 s -> 25 ms) and the fewest bcrypt rounds (issue 0.6 s -> 45 ms).
"""
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get("HERDER_KEYSTONE_VENV", os.path.join(REPO, ".venv-keystone"))
REGION = "RegionOne"
ADMIN_PASSWORD = "keystone-admin"  # a throwaway cloud on loopback, gone with the test
# Keystone's keystone.wsgi.api:application, one request at a time: SQLite has one writer
ONE_AT_A_TIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "one_at_a_time.py")


def installed() -> bool:
    return all(os.access(os.path.join(VENV, "bin", name), os.X_OK)
               for name in ("keystone-manage", "uwsgi"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(work_dir: str) -> str:
    return f"""[DEFAULT]
log_file = {work_dir}/keystone.log
[database]
connection = sqlite:///{work_dir}/keystone.sqlite
[token]
provider = fernet
[fernet_tokens]
key_repository = {work_dir}/fernet-keys
[credential]
key_repository = {work_dir}/credential-keys
[identity]
password_hash_rounds = 4
[cache]
enabled = true
backend = dogpile.cache.memory
"""


class KeystoneServer:
    """Keystone on http://127.0.0.1:<port>; `start` sets it up and waits until it answers."""

    def __init__(self, work_dir: str, port: int | None = None):
        self.work_dir = os.path.abspath(work_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auth_url = f"{self.url}/v3"
        self.config_file = os.path.join(self.work_dir, "keystone.conf")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "KeystoneServer":
        os.makedirs(self.work_dir, exist_ok=True)
        with open(self.config_file, "w") as f:
            f.write(_config(self.work_dir))
        owner = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
        # each keystone-manage spends ~2.5 s starting up; fernet_setup and credential_setup
        # only write their key repositories, so they run beside db_sync (bootstrap needs all
        # three done)
        self._manage_side_by_side(["db_sync"], ["fernet_setup", *owner],
                                  ["credential_setup", *owner])
        self._manage("bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                     "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
                     "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
                     "--bootstrap-region-id", REGION,
                     "--bootstrap-public-url", self.auth_url,
                     "--bootstrap-internal-url", self.auth_url,
                     "--bootstrap-admin-url", self.auth_url)
        # --http11-socket: plain --http-socket closes keep-alive connections that
        # openstackclient reuses, which then fail with "connection reset"
        self.process = subprocess.Popen(
            [os.path.join(VENV, "bin", "uwsgi"), "--http11-socket", f"127.0.0.1:{self.port}",
             "--home", VENV, "--wsgi-file", ONE_AT_A_TIME,
             "--env", f"OS_KEYSTONE_CONFIG_FILES={self.config_file}",
             "--master", "--processes", "1", "--threads", "8", "--need-app",
             "--die-on-term", "--disable-logging",
             "--logto", os.path.join(self.work_dir, "uwsgi.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_until_answering(timeout)
        return self

    def _manage(self, *args: str) -> None:
        self._manage_side_by_side(list(args))

    def _manage_side_by_side(self, *commands: list[str]) -> None:
        """keystone-manage with each argument list, all at once; raises if any failed."""
        processes = [subprocess.Popen(
            [os.path.join(VENV, "bin", "keystone-manage"), "--config-file", self.config_file,
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for args in commands]
        failed = []
        for args, process in zip(commands, processes):
            try:
                _, stderr = process.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                process.kill()
                _, stderr = process.communicate()
            if process.returncode != 0:
                failed.append(f"keystone-manage {args[0]} failed:\n{stderr[-4000:]}")
        if failed:
            raise RuntimeError("\n".join(failed))

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uWSGI exited ({self.process.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(self.auth_url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Keystone did not answer at {self.auth_url}:\n{self.log()}")

    def log(self) -> str:
        text = ""
        for name in ("uwsgi.log", "keystone.log"):
            try:
                with open(os.path.join(self.work_dir, name)) as f:
                    text += f"--- {name}\n" + f.read()[-4000:]
            except OSError:
                pass
        return text

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class Account:
    username: str
    password: str
    project_name: str
    project_id: str = ""
    user_id: str = ""

    def connect_args(self, auth_url: str) -> dict:
        """openstacksdk `openstack.connect` arguments: password auth, endpoints from the catalog."""
        return {"auth_type": "password",
                "auth": {"auth_url": auth_url, "username": self.username,
                         "password": self.password, "project_name": self.project_name,
                         "user_domain_name": "Default", "project_domain_name": "Default"},
                "identity_api_version": 3, "region_name": REGION,
                "load_yaml_config": False, "load_envvars": False}


@dataclass
class HerderCatalog:
    """What register_herder made: the accounts to log in as, and herder's service user."""
    admin: Account
    service: Account
    member: Account
    other: Account


def register_herder(keystone: KeystoneServer, herder_endpoint: str) -> HerderCatalog:
    """Put herder in the catalog as compute and image service (it serves Image v2 reads), add a
    network service whose endpoint answers 404 (clients only need one to exist), and create
    herder's service user, a member of project `demo` and one of project `other`."""
    import openstack  # herder's test dependency; imported late so the module loads without it

    admin = Account("admin", ADMIN_PASSWORD, "admin")
    conn = openstack.connect(**admin.connect_args(keystone.auth_url))
    try:
        for name, kind, url in (("nova", "compute", f"{herder_endpoint}/v2.1"),
                                ("glance", "image", f"{herder_endpoint}/image"),
                                ("neutron", "network", f"{herder_endpoint}/network")):
            service = conn.identity.create_service(name=name, type=kind)
            for interface in ("public", "internal", "admin"):
                conn.identity.create_endpoint(service_id=service.id, interface=interface,
                                              url=url, region_id=REGION)
        roles = {role.name: role for role in conn.identity.roles()}
        if "service" not in roles:
            roles["service"] = conn.identity.create_role(name="service")
        accounts = HerderCatalog(
            admin=admin,
            service=_account(conn, "herder", "service", roles["service"]),
            member=_account(conn, "demo", "demo", roles["member"]),
            other=_account(conn, "eve", "other", roles["member"]))
        accounts.admin.project_id = conn.current_project_id
        accounts.admin.user_id = conn.current_user_id
        return accounts
    finally:
        conn.close()


def _account(conn, username: str, project_name: str, role) -> Account:
    project = (conn.identity.find_project(project_name, domain_id="default")
               or conn.identity.create_project(name=project_name, domain_id="default"))
    password = f"{username}-password"
    user = conn.identity.create_user(name=username, password=password, domain_id="default",
                                     default_project_id=project.id)
    conn.identity.assign_project_role_to_user(project, user, role)
    return Account(username, password, project_name, project.id, user.id)


def herder_keystone_config(keystone: KeystoneServer, service: Account) -> str:
    """The herder.conf lines that turn on keystone mode against this Keystone."""
    return f"""[api]
auth_strategy = keystone
[keystone_authtoken]
www_authenticate_uri = {keystone.auth_url}
auth_url = {keystone.auth_url}
auth_type = password
username = {service.username}
password = {service.password}
project_name = {service.project_name}
user_domain_name = Default
project_domain_name = Default
region_name = {REGION}
service_token_roles_required = true
"""
