"""The image catalogue (the bytes live in the image store, herder/image_store.py).

Who sees what follows glance: an administrator sees every image; anyone else the public and
community images and every image of their own project (herder has no image members, so a
`shared` image is its owner's alone). Status changes are compare-and-swap, so that of two
uploads to one image exactly one gets it from `queued` to `saving`.
"""
from sqlalchemy import delete as sql_delete, or_, select
from sqlalchemy.exc import IntegrityError

from herder import exception
from herder.db.cas import compare_and_swap
from herder.db.models import Image
from herder.db.session import Database

EVERYONE = ("public", "community")


class ImageExists(exception.HerderError):
    message = "Image with identifier %(image_id)s already exists!"


def get(db: Database, image_id: str) -> Image:
    with db.transaction() as session:
        image = session.get(Image, image_id)
    if image is None:
        raise exception.ImageNotFound(image_id=image_id)
    return image


def get_visible(db: Database, image_id: str, project_id: str | None) -> Image:
    """The image if `project_id` may see it (None: an administrator, who sees all)."""
    image = get(db, image_id)
    if project_id is not None and not visible_to(image, project_id):
        raise exception.ImageNotFound(image_id=image_id)
    return image


def visible_to(image: Image, project_id: str) -> bool:
    return image.visibility in EVERYONE or image.owner == project_id


def list_visible(db: Database, project_id: str | None, visibility: str | None = None,
                 filters: dict | None = None, newest_first: bool = False) -> list[Image]:
    """The images `project_id` lists (None: an administrator), as glance's list: by default
    the public ones and the project's own (community images only to their owner);
    `visibility=all` adds every community image; another visibility lists just those the
    project may see. `filters` name, per column, the values it may hold."""
    with db.transaction() as session:
        order = (Image.created_at.desc(), Image.id.desc()) if newest_first else \
            (Image.created_at, Image.id)
        query = select(Image).order_by(*order)
        if visibility not in (None, "all"):
            query = query.where(Image.visibility == visibility)
        if project_id is not None:
            shown = ("public",) if visibility is None else EVERYONE
            query = query.where(or_(Image.visibility.in_(shown), Image.owner == project_id))
        for column, values in (filters or {}).items():
            query = query.where(getattr(Image, column).in_(values))
        return list(session.scalars(query))


def add(db: Database, image: Image) -> Image:
    """Store `image` unless one with its id exists (the catalogue, installed at every start)."""
    with db.transaction() as session:
        if session.get(Image, image.id) is None:
            session.add(image)
    return image


def create(db: Database, image: Image) -> Image:
    """Store a new image; ImageExists if its id is taken."""
    try:
        with db.transaction() as session:
            if session.get(Image, image.id) is not None:
                raise ImageExists(image_id=image.id)
            session.add(image)
    except IntegrityError:   # the same id, created by another request since the look
        raise ImageExists(image_id=image.id) from None
    return image


def swap(db: Database, image_id: str, expected: dict, values: dict) -> Image | None:
    """Write `values` if the image's columns hold `expected`: the image as written, or None
    if it does not (or no longer) exists or holds something else."""
    with db.transaction() as session:
        return compare_and_swap(session, Image, Image.id, image_id, expected, values)


def update(db: Database, image_id: str, values: dict) -> None:
    """Unconditional: for the catalogue's own image."""
    with db.transaction() as session:
        image = session.get(Image, image_id)
        if image is not None:
            for name, value in values.items():
                setattr(image, name, value)


def remove(db: Database, image_id: str) -> bool:
    """Delete the image's row; whether there was one."""
    with db.transaction() as session:
        return session.execute(sql_delete(Image).where(Image.id == image_id)).rowcount == 1
