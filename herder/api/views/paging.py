"""`next` links of paged collections, as Nova writes them."""
from urllib.parse import urlencode

from herder.api.query import Query


def next_links(base_url: str, collection: str, query: Query, items: list[dict], limit: int,
               id_key: str = "id") -> list[dict]:
    """A `next` link when the page is full (Nova's rule: a full page may also be the last one).

    The link repeats the request's parameters (sorted by name) with `marker` set to the last
    item's `id_key`.
    """
    if not limit or len(items) != limit:
        return []
    params = dict(query.pairs())
    params["marker"] = items[-1][id_key]
    return [{"rel": "next", "href": f"{base_url}/{collection}?{urlencode(params)}"}]
