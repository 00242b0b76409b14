"""The local image store's catalogue (the bytes live in files under the state directory)."""
from sqlalchemy import select

from herder import exception
from herder.db.models import Image
from herder.db.session import Database


def get(db: Database, image_id: str) -> Image:
    with db.transaction() as session:
        image = session.get(Image, image_id)
    if image is None:
        raise exception.ImageNotFound(image_id=image_id)
    return image


def list_all(db: Database, name: str | None = None) -> list[Image]:
    with db.transaction() as session:
        query = select(Image).order_by(Image.created_at, Image.id)
        if name is not None:
            query = query.where(Image.name == name)
        return list(session.scalars(query))


def add(db: Database, image: Image) -> Image:
    with db.transaction() as session:
        if session.get(Image, image.id) is None:
            session.add(image)
    return image
