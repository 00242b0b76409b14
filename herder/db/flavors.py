"""Flavors, their extra specs and, for private flavors, the projects allowed to use them."""
from sqlalchemy import select

from herder import exception
from herder.db.models import Flavor, FlavorProject
from herder.db.session import Database


def as_dict(flavor: Flavor) -> dict:
    """The snapshot of a flavor an instance keeps (so later flavor edits do not change it)."""
    return {"id": flavor.id, "flavorid": flavor.flavorid, "name": flavor.name,
            "vcpus": flavor.vcpus, "memory_mb": flavor.memory_mb, "root_gb": flavor.root_gb,
            "ephemeral_gb": flavor.ephemeral_gb, "swap": flavor.swap,
            "rxtx_factor": flavor.rxtx_factor, "is_public": flavor.is_public,
            "disabled": flavor.disabled, "description": flavor.description,
            "extra_specs": dict(flavor.extra_specs or {})}


def get(db: Database, flavorid: str, project_id: str | None = None) -> Flavor:
    """A flavor by its API id; a private flavor only for projects with access (None = admin)."""
    with db.transaction() as session:
        flavor = session.scalars(select(Flavor).where(Flavor.flavorid == str(flavorid))).first()
        if flavor is not None and not flavor.is_public and project_id is not None:
            allowed = session.scalars(select(FlavorProject).where(
                FlavorProject.flavor_id == flavor.id,
                FlavorProject.project_id == project_id)).first()
            if allowed is None:
                flavor = None
    if flavor is None:
        raise exception.FlavorNotFound(flavor_id=flavorid)
    return flavor


def list_all(db: Database, project_id: str | None = None, is_public: bool | None = True,
             min_ram: int | None = None, min_disk: int | None = None) -> list[Flavor]:
    with db.transaction() as session:
        query = select(Flavor).order_by(Flavor.flavorid)
        if min_ram is not None:
            query = query.where(Flavor.memory_mb >= min_ram)
        if min_disk is not None:
            query = query.where(Flavor.root_gb >= min_disk)
        flavors = list(session.scalars(query))
        access = {fp.flavor_id for fp in session.scalars(
            select(FlavorProject).where(FlavorProject.project_id == project_id))}
    if is_public is None:  # admin asked for all
        return flavors
    if is_public:
        return [f for f in flavors if f.is_public or f.id in access]
    return [f for f in flavors if not f.is_public and (project_id is None or f.id in access)]


def create(db: Database, **values) -> Flavor:
    with db.transaction() as session:
        taken = session.scalars(select(Flavor).where(
            (Flavor.flavorid == values["flavorid"]) | (Flavor.name == values["name"]))).first()
        if taken is not None:
            field = "id" if taken.flavorid == values["flavorid"] else "name"
            raise exception.Conflict(
                f"Flavor with {field} {values['flavorid' if field == 'id' else 'name']} "
                "already exists.")
        flavor = Flavor(**values)
        session.add(flavor)
    return flavor


def delete(db: Database, flavorid: str) -> None:
    with db.transaction() as session:
        flavor = session.scalars(select(Flavor).where(Flavor.flavorid == str(flavorid))).first()
        if flavor is None:
            raise exception.FlavorNotFound(flavor_id=flavorid)
        session.delete(flavor)


def by_internal_ids(db: Database, internal_ids: set[int]) -> dict[int, Flavor]:
    """The flavors of these internal ids that still exist, in one query."""
    if not internal_ids:
        return {}
    with db.transaction() as session:
        return {flavor.id: flavor for flavor in session.scalars(
            select(Flavor).where(Flavor.id.in_(internal_ids)))}


def set_extra_specs(db: Database, flavorid: str, specs: dict) -> dict:
    with db.transaction() as session:
        flavor = session.scalars(select(Flavor).where(Flavor.flavorid == str(flavorid))).first()
        if flavor is None:
            raise exception.FlavorNotFound(flavor_id=flavorid)
        flavor.extra_specs = {**(flavor.extra_specs or {}), **specs}
        return dict(flavor.extra_specs)
