"""A seeded generator of low-quality web text: the offline stand-in for random Common Crawl negatives.

It mimics what dominates raw crawl pages that are not prose: navigation word salads, copyright and "Powered by"
footers, cookie/login prompts, forum index lines, coupon/spam lines, dates and counters.
"""

import random

NAV_WORDS = (
    "Home About Contact Login Register FAQ Blog Shop Cart Checkout Search Menu Sitemap Privacy Terms Help Support "
    "News Events Gallery Forum Members Downloads Careers Press Account Wishlist Categories Tags Archives Subscribe"
).split()
FOOTERS = (
    "Copyright © {year} {site}. All rights reserved.",
    "Powered by {cms} | Theme by {site}",
    "© {year} {site} Inc. | Privacy Policy | Terms of Use | Cookie Settings",
    "This site uses cookies to improve your experience. Accept | Decline | Learn more",
    "You must be logged in to post a comment. Log in | Register | Lost your password?",
    "Follow us on Facebook Twitter Instagram Pinterest YouTube",
    "Sign up for our newsletter! Enter your email Subscribe",
)
SPAM = (
    "BEST PRICE!!! Buy {item} cheap online, {pct}% OFF today only, free shipping!!!",
    "Click here to claim your {item} coupon code {code} - limited offer",
    "Hot deals on {item}: was ${price}, now ${low}. Add to cart",
    "{item} {item} {item} cheap {item} best {item} buy now",
    "Win a free {item}! Enter now >>> {code}",
)
FORUM = (
    "Re: {topic} ({num} replies) - last post by {user} on {date}",
    "Topic: {topic} | Views: {num} | Replies: {num2}",
    "Posted by {user} » {date} {time}",
    "Page 1 2 3 4 5 ... {num} Next »",
)
SLOGANS = (
    "{Verb} {Thing} Now!",
    "{Verb} {Thing} and Get Paid to {verb} from Home!",
    "The Internet's #1 Place for {Thing} Fans from Around the World!",
    "{Thing} Discussion Forums Forum Index {Thing} Discussion Forums",
    "This page is maintained by {user}. Contact {user}",
    "Log in to check your private messages | Log in | Profile | Memberlist | Usergroups",
    "{Thing} Courses, {Thing} Jobs, {Thing} Reviews - {site}",
    "{site} Supports {Thing} Lovers Everywhere",
    "Click Here to {Verb} {Thing} Today - Limited Time Only!",
)
VERBS = "Learn Buy Teach Discover Find Join Download Watch Try Order".split()
THINGS = "Korean English Guitar Crypto Yoga Poker Travel Recipes Dating Insurance Football Anime".split()
ITEMS = "viagra watches shoes handbags jerseys loans phones tablets sunglasses replica".split()
TOPICS = "help needed,Printer not working,best settings?,Re: update failed,WTB parts,lol,Check this out".split(",")
CMS = ("WordPress", "Joomla", "Drupal", "phpBB", "vBulletin", "Shopify")


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        year=rng.randint(1998, 2025),
        site=rng.choice(["ShopMart", "BestDeals", "TechForum", "MyBlog", "CityNews", "CoolSite"]),
        cms=rng.choice(CMS),
        item=rng.choice(ITEMS),
        pct=rng.choice([10, 20, 50, 70, 90]),
        code="".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8)),
        price=rng.randint(50, 999),
        low=rng.randint(5, 49),
        topic=rng.choice(TOPICS),
        num=rng.randint(2, 9999),
        num2=rng.randint(0, 99),
        Verb=rng.choice(VERBS),
        verb=rng.choice(VERBS).lower(),
        Thing=rng.choice(THINGS),
        user=rng.choice(["admin", "john_doe", "xXgamerXx", "guest123", "mod"]),
        date=f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2005, 2025)}",
        time=f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
    )


def boilerplate_line(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return " ".join(rng.sample(NAV_WORDS, rng.randint(4, 12)))
    if kind < 0.5:
        return _fill(rng.choice(FOOTERS), rng)
    if kind < 0.6:
        return _fill(rng.choice(SPAM), rng)
    if kind < 0.8:
        return _fill(rng.choice(SLOGANS), rng)
    return _fill(rng.choice(FORUM), rng)


def boilerplate_document(rng: random.Random, min_lines: int = 3, max_lines: int = 30) -> str:
    """One page of web chrome, spam and forum index lines."""
    return "\n".join(boilerplate_line(rng) for _ in range(rng.randint(min_lines, max_lines)))


def generate_boilerplate_documents(num_docs: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [boilerplate_document(rng) for _ in range(num_docs)]
