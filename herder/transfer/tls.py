"""Optional TLS for disk transfers ([transfer] tls_cert_file, tls_key_file, tls_ca_file).

TLS is on when a host has a certificate and its key; the same pair serves as the receiving
agent's server certificate and as the sender's client certificate. With a CA file, each side
verifies the other against it: the receiver requires a client certificate signed by that CA
(mutual TLS), the sender requires the destination's certificate to be signed by it and to name
the address it connects to (an IP SubjectAltName such as 127.0.1.2). Without a CA file the
sender verifies against the system's trust store and the receiver asks for no client
certificate. A host with TLS sends over TLS only and receives over TLS only: nothing falls back
to plain TCP.
"""
import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class TLSConfig:
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None

    def __post_init__(self):
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("[transfer] tls_cert_file and tls_key_file go together")
        if self.ca_file and not self.cert_file:
            raise ValueError("[transfer] tls_ca_file needs tls_cert_file and tls_key_file")

    @classmethod
    def from_options(cls, options) -> "TLSConfig":
        return cls(options.tls_cert_file or None, options.tls_key_file or None,
                   options.tls_ca_file or None)

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # verifies the peer and its name
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)
        else:
            context.load_default_certs()
        context.load_cert_chain(self.cert_file, self.key_file)
        return context
