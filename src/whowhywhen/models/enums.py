from enum import StrEnum


class BotCategory(StrEnum):
    search_engine = "search_engine"
    ai_crawler = "ai_crawler"
    seo = "seo"
    social_media = "social_media"
    monitoring = "monitoring"
    scraper = "scraper"
    other = "other"


class ClientType(StrEnum):
    """What kind of software sent the request to the user's API."""

    browser = "browser"
    library = "library"
    bot = "bot"
    other = "other"


class DeviceType(StrEnum):
    pc = "pc"
    mobile = "mobile"
    tablet = "tablet"
    bot = "bot"
    other = "other"


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"
    viewer = "viewer"
