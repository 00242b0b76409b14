"""What the scheduler is asked for a move: built here for both the conductor's
select_destinations step and a dry run (the herder API's move plans), so that a plan judges
the hosts against exactly what the move would ask."""
from herder.db.placement import Resources


def move_request(request_spec: dict, flavor: dict) -> dict:
    """The flavor the server moves with, and what its request spec pins: its availability
    zone and its image's properties."""
    return {"resources": Resources.of_flavor(flavor).as_dict(),
            "availability_zone": request_spec.get("availability_zone"),
            "image_properties": request_spec.get("image_properties", {})}


def hosts_to_leave(source_host: str, resize: bool, conf) -> list[str]:
    """A move leaves its source host, unless it is a resize and
    `[DEFAULT] allow_resize_to_same_host` lets it stay."""
    return [] if resize and conf.allow_resize_to_same_host else [source_host]
