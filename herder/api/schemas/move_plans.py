"""Request bodies of the herder API's move plans: one key, the move to plan, with what the
Compute API's action of that name takes (a plan carries no disk config: it creates nothing)."""
from herder.api.schemas.servers import FLAVOR_REF, MIGRATE_V256

RESIZE = {
    "type": "object",
    "properties": {"resize": {"type": "object", "properties": {"flavorRef": FLAVOR_REF},
                              "required": ["flavorRef"], "additionalProperties": False}},
    "required": ["resize"],
    "additionalProperties": False,
}

# the move's name -> its body: a migrate as the migrate action takes it from 2.56
PLANS = {"migrate": MIGRATE_V256, "resize": RESIZE}
