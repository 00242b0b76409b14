"""Domain exceptions. They know nothing of HTTP; the API maps them to Compute API errors.

Exceptions raised on one service and caught on another cross the bus by class name, so every
class here must be constructible from its message alone.
"""


class HerderError(Exception):
    message = "An unknown error occurred."

    def __init__(self, message: str | None = None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            message = self.message % kwargs if kwargs else self.message
        super().__init__(message)

    @property
    def msg(self) -> str:
        return str(self)


class Invalid(HerderError):
    """The request asks for something that cannot be done as asked (the caller must change
    it, not retry it)."""
    message = "Unacceptable parameters."


class NotFound(HerderError):
    message = "Resource could not be found."


class InstanceNotFound(NotFound):
    message = "Instance %(instance_id)s could not be found."


class FlavorNotFound(NotFound):
    message = "Flavor %(flavor_id)s could not be found."


class ImageNotFound(NotFound):
    message = "Image %(image_id)s could not be found."


class MigrationNotFound(NotFound):
    message = "Migration %(migration_id)s could not be found."


class MoveAborted(HerderError):
    """A move stopped and rolled back because someone asked to abort it."""
    message = "The move was aborted by request."


class ComputeHostNotFound(NotFound):
    message = "Compute host %(host)s could not be found."


class Conflict(HerderError):
    message = "There was a conflict when trying to complete your request."


class UnexpectedTaskState(Conflict):
    """A compare-and-swap on server or migration state found another state than expected."""
    message = "Conflict updating instance %(instance_uuid)s. Expected: %(expected)s. Actual: %(actual)s"


class InstanceIsLocked(Conflict):
    message = "Instance %(instance_uuid)s is locked"


class InstanceInvalidState(Conflict):
    """The server is not in a state the operation may start from (`attr` names the column)."""
    message = "Cannot '%(action)s' instance %(instance_uuid)s while it is in %(attr)s %(state)s"


class InstanceNotReady(Conflict):
    message = "Instance %(instance_uuid)s is not ready"


class ComputeServiceUnavailable(Conflict):
    """The compute service an operation needs is down: try again once it is back."""
    message = "Service is unavailable at this time."


class ConsoleUnavailable(HerderError):
    """The server's host did not answer in time when asked for its console."""
    message = "The console of %(instance_uuid)s could not be read: %(host)s did not answer"


class NoValidHost(HerderError):
    message = "No valid host was found. %(reason)s"


class ClaimFailed(HerderError):
    """A destination could not reserve the resources a move needs (the conductor reschedules)."""
    message = "Claim failed on %(host)s: %(reason)s"


class AllocationConflict(HerderError):
    message = "Allocation on %(node)s does not fit: %(reason)s"


class DriverError(HerderError):
    """A virt driver step failed (also what an injected fault raises)."""
    message = "Driver step %(step)s failed on %(host)s: %(reason)s"


class ServiceUnavailable(HerderError):
    message = "Service is unavailable at this time."


class MessagingTimeout(HerderError):
    message = "Timed out waiting for a reply to %(method)s on %(topic)s"


class RemoteError(HerderError):
    """An exception from another service whose class this side does not know."""
    message = "Remote error: %(exc_type)s %(value)s"


class QuotaExceeded(HerderError):
    message = "Quota exceeded"


class MetadataLimitExceeded(QuotaExceeded):
    message = "Maximum number of metadata items exceeds %(allowed)s"


class MarkerNotFound(NotFound):
    """A list request's `marker` names no item (the API answers 400, as Nova does)."""
    message = "Marker %(marker)s could not be found."


class InstanceGroupNotFound(NotFound):
    message = "Instance group %(group_uuid)s could not be found."


class GroupPolicyViolation(ClaimFailed):
    """A destination would break its server group's policy (the conductor reschedules)."""
    message = "Server group policy check failed on %(host)s: %(reason)s"


class TransferFailed(HerderError):
    """A disk did not get across to the destination; a retry with a fresh grant resumes from
    the last extent the destination verified."""
    message = "Disk transfer failed: %(reason)s"


class DiskMismatch(HerderError):
    """What arrived on the destination is not what the source sent: the move rolls back (a
    retry would resume from the same damaged copy)."""
    message = "The disk that arrived on %(host)s is not the one sent: %(reason)s"


class TransferRefused(TransferFailed):
    """The destination's transfer agent would not take the disk (bad, expired or spent token,
    or a disk it does not expect)."""
    message = "Disk transfer refused: %(reason)s"


class ImageFetchFailed(HerderError):
    """A compute host could not get an image into its cache: unreachable, cut off, or bytes
    that do not match the image's hash. Nothing of it is left in the cache."""
    message = "Image %(image_id)s could not be fetched on %(host)s: %(reason)s"


class IncompatibleRPCVersion(HerderError):
    """A message asked a service for a version of its RPC API that it does not serve: services
    of two releases talk during an upgrade, and one of them is too old for the other."""
    message = ("%(topic)s serves RPC API %(served)s; the caller sent %(sent)s (%(method)s): "
               "%(advice)s")
