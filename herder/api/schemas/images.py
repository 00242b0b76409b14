"""The Image API v2's image schema: what POST /v2/images takes (glance's rules), and the
schema document GET /v2/schemas/image serves.

herder stores the disk formats its compute hosts boot (raw, qcow2) in a bare container;
glance's other formats (vmdk, iso, ovf, ...) are refused as a glance configured with
`disk_formats = raw,qcow2` and `container_formats = bare` refuses them. Extra properties are
strings, as in glance.
"""
DISK_FORMATS = ("raw", "qcow2")
CONTAINER_FORMATS = ("bare",)
VISIBILITIES = ("public", "private", "shared", "community")
# what glance computes or owns: naming one in a create is 403 "Attribute '...' is read-only."
READ_ONLY = ("created_at", "updated_at", "status", "checksum", "os_hash_algo", "os_hash_value",
             "size", "virtual_size", "direct_url", "self", "file", "schema", "locations",
             "stores")
# and these are 403 "Attribute '...' is reserved." (as is anything in glance's own namespace)
RESERVED = ("location", "deleted", "deleted_at", "is_public")
RESERVED_PREFIX = "os_glance"
MAX_PROPERTIES = 128   # glance's image_property_quota: more is 413
_INT32 = 2 ** 31 - 1

UUID = {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                                     "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"}

PROPERTIES = {
    "id": {**UUID, "description": "An identifier for the image"},
    "name": {"type": ["null", "string"], "maxLength": 255,
             "description": "Descriptive name for the image"},
    "visibility": {"type": "string", "enum": list(VISIBILITIES),
                   "description": "Scope of image accessibility"},
    "protected": {"type": "boolean",
                  "description": "If true, image will not be deletable."},
    "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS],
                    "description": "Format of the disk"},
    "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS],
                         "description": "Format of the container"},
    "min_ram": {"type": "integer", "minimum": 0, "maximum": _INT32,
                "description": "Amount of ram (in MB) required to boot image."},
    "min_disk": {"type": "integer", "minimum": 0, "maximum": _INT32,
                 "description": "Amount of disk space (in GB) required to boot image."},
    "owner": {"type": ["null", "string"], "maxLength": 255,
              "description": "Owner of the image"},
    "tags": {"type": "array", "maxItems": MAX_PROPERTIES,
             "items": {"type": "string", "maxLength": 255},
             "description": "List of strings related to the image"},
}
EXTRA_PROPERTY = {"type": "string", "maxLength": 65535}

CREATE = {"type": "object", "properties": PROPERTIES, "additionalProperties": EXTRA_PROPERTY}

_SHOWN_ONLY = {
    "status": {"type": "string", "readOnly": True,
               "enum": ["queued", "saving", "active", "killed", "deleted", "uploading",
                        "importing", "pending_delete", "deactivated"],
               "description": "Status of the image"},
    "size": {"type": ["null", "integer"], "readOnly": True,
             "description": "Size of image file in bytes"},
    "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                     "description": "Virtual size of image in bytes"},
    "checksum": {"type": ["null", "string"], "readOnly": True, "maxLength": 32,
                 "description": "md5 hash of image contents."},
    "os_hash_algo": {"type": ["null", "string"], "readOnly": True, "maxLength": 64,
                     "description": "Algorithm to calculate the os_hash_value"},
    "os_hash_value": {"type": ["null", "string"], "readOnly": True, "maxLength": 128,
                      "description": "Hexdigest of the image contents using the algorithm "
                                     "specified by the os_hash_algo"},
    "os_hidden": {"type": "boolean", "readOnly": True,
                  "description": "If true, image will not appear in default image list "
                                 "response (always false in herder)."},
    "created_at": {"type": "string", "readOnly": True,
                   "description": "Date and time of image registration"},
    "updated_at": {"type": "string", "readOnly": True,
                   "description": "Date and time of the last image modification"},
    "self": {"type": "string", "readOnly": True, "description": "An image self url"},
    "file": {"type": "string", "readOnly": True, "description": "An image file url"},
    "schema": {"type": "string", "readOnly": True, "description": "An image schema url"},
}


def image_schema_document() -> dict:
    """GET /v2/schemas/image: the image as clients that read the schema expect it."""
    return {"name": "image", "properties": {**PROPERTIES, **_SHOWN_ONLY},
            "additionalProperties": EXTRA_PROPERTY,
            "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def images_schema_document() -> dict:
    """GET /v2/schemas/images: a page of images."""
    return {"name": "images",
            "properties": {"images": {"type": "array", "items": image_schema_document()},
                           "schema": {"type": "string"}, "first": {"type": "string"},
                           "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}
