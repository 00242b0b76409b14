"""Which projects may use a private flavor (rows of `flavor_projects`)."""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from herder import exception
from herder.db.models import Flavor, FlavorProject
from herder.db.session import Database


class PublicFlavor(exception.Conflict):
    message = "Can not add access to a public flavor."


class FlavorAccessExists(exception.Conflict):
    message = ("Flavor access already exists for flavor %(flavor_id)s and project "
               "%(project_id)s combination.")


class FlavorAccessNotFound(exception.NotFound):
    message = "Flavor access not found for %(flavor_id)s / %(project_id)s combination."


def projects(db: Database, flavor: Flavor) -> list[str]:
    """The projects given access to the flavor, in the order they were given it."""
    with db.transaction() as session:
        return list(session.scalars(select(FlavorProject.project_id).where(
            FlavorProject.flavor_id == flavor.id).order_by(FlavorProject.id)))


def add(db: Database, flavor: Flavor, project_id: str) -> None:
    if flavor.is_public:
        raise PublicFlavor()
    try:
        with db.transaction() as session:
            if session.get(Flavor, flavor.id) is None:  # deleted since it was looked up
                raise exception.FlavorNotFound(flavor_id=flavor.flavorid)
            session.add(FlavorProject(flavor_id=flavor.id, project_id=project_id))
    except IntegrityError:  # the unique (flavor, project) pair: given already
        raise FlavorAccessExists(flavor_id=flavor.flavorid, project_id=project_id) from None


def remove(db: Database, flavor: Flavor, project_id: str) -> None:
    with db.transaction() as session:
        row = session.scalars(select(FlavorProject).where(
            FlavorProject.flavor_id == flavor.id,
            FlavorProject.project_id == project_id)).first()
        if row is None:
            raise FlavorAccessNotFound(flavor_id=flavor.flavorid, project_id=project_id)
        session.delete(row)
