"""The household of a family: adults and children, their names and birth years or dates.

One call changes the whole household at once: every row is checked first, then everything is
written, so a bad row leaves the household as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.audit.services import Actor, record
from domain.families.models import Family, FamilyMember, MemberRole
from domain.families.records import local_today, members_of
from domain.vog.services import ensure_vog_records
from tenants.db import db

EARLIEST_YEAR = 1900
NAME_MAX_LENGTH = 100
NEW = "new"


class HouseholdError(ValueError):
    """``row`` is a member id or ``"new"``; ``field`` the field of that row; both None for the household."""

    def __init__(self, message: str, row: int | str | None = None, field: str | None = None):
        super().__init__(message)
        self.row = row
        self.field = field


@dataclass(frozen=True)
class MemberEdit:
    member_id: int
    first_name: str
    last_name: str | None = None
    birth_year: int | None = None
    birth_date: date | None = None
    remove: bool = False


@dataclass(frozen=True)
class NewMember:
    role: str
    first_name: str
    last_name: str | None = None
    birth_year: int | None = None
    birth_date: date | None = None


def check_birth(row: int | str, birth_year: int | None, birth_date: date | None, today: date) -> int | None:
    """The birth year to store, or HouseholdError. A date alone gives the year."""
    if birth_year is not None and not EARLIEST_YEAR <= birth_year <= today.year:
        message = ("Het geboortejaar ligt in de toekomst." if birth_year > today.year
                   else f"Vul een geboortejaar vanaf {EARLIEST_YEAR} in.")
        raise HouseholdError(message, row, "birth_year")
    if birth_date is not None:
        if birth_date > today:
            raise HouseholdError("De geboortedatum ligt in de toekomst.", row, "birth_date")
        if birth_date.year < EARLIEST_YEAR:
            raise HouseholdError(f"Vul een geboortedatum vanaf {EARLIEST_YEAR} in.", row, "birth_date")
        if birth_year is not None and birth_year != birth_date.year:
            raise HouseholdError("Het geboortejaar past niet bij de geboortedatum.", row, "birth_year")
        return birth_date.year
    return birth_year


def _name(row: int | str, first_name: str | None, last_name: str | None) -> tuple[str, str | None]:
    first = (first_name or "").strip()
    last = (last_name or "").strip() or None
    if not first:
        raise HouseholdError("Vul de voornaam in.", row, "first_name")
    if len(first) > NAME_MAX_LENGTH:
        raise HouseholdError(f"Hooguit {NAME_MAX_LENGTH} tekens.", row, "first_name")
    if last and len(last) > NAME_MAX_LENGTH:
        raise HouseholdError(f"Hooguit {NAME_MAX_LENGTH} tekens.", row, "last_name")
    return first, last


def update_household(family: Family, edits: list[MemberEdit], new: NewMember | None, actor: Actor, *,
                     today: date | None = None) -> None:
    today = today or local_today()
    members = {member.id: member for member in members_of(family)}
    by_id = {edit.member_id: edit for edit in edits}
    if set(by_id) - set(members):
        raise HouseholdError("Dit gezinslid hoort niet bij dit gezin.")

    # Check everything first.
    planned: dict[int, tuple[str, str | None, int | None, date | None]] = {}
    for member_id, edit in by_id.items():
        if edit.remove:
            continue
        first, last = _name(member_id, edit.first_name, edit.last_name)
        year = check_birth(member_id, edit.birth_year, edit.birth_date, today)
        planned[member_id] = (first, last, year, edit.birth_date)
    removed = {member_id for member_id, edit in by_id.items() if edit.remove}
    addition = None
    if new is not None:
        try:
            role = MemberRole(new.role)
        except ValueError:
            raise HouseholdError("Kies volwassene of kind.", NEW, "role") from None
        first, last = _name(NEW, new.first_name, new.last_name)
        year = check_birth(NEW, new.birth_year, new.birth_date, today)
        addition = (role, first, last, year, new.birth_date)
    adults_left = [m for m in members.values() if m.role == MemberRole.ADULT and m.id not in removed]
    if not adults_left and not (addition and addition[0] == MemberRole.ADULT):
        raise HouseholdError("Een gezin houdt minstens één volwassene.")

    # Then write.
    changed = []
    for member_id, (first, last, year, born) in planned.items():
        member = members[member_id]
        last = last if member.role == MemberRole.ADULT else None
        if (member.first_name, member.last_name, member.birth_year, member.birth_date) != (first, last, year, born):
            member.first_name, member.last_name, member.birth_year, member.birth_date = first, last, year, born
            changed.append(member_id)
    contact_removed = any(members[member_id].is_contact for member_id in removed)
    for member_id in removed:
        db.session.delete(members[member_id])
    added_id = None
    if addition is not None:
        role, first, last, year, born = addition
        member = FamilyMember(tenant_id=family.tenant_id, family_id=family.id, role=role, first_name=first,
                              last_name=last if role == MemberRole.ADULT else None, birth_year=year,
                              birth_date=born, is_contact=False)
        db.session.add(member)
        db.session.flush()
        added_id = member.id
        if role == MemberRole.ADULT:
            adults_left.append(member)
    if (contact_removed or not any(m.is_contact for m in adults_left)) and adults_left:
        adults_left.sort(key=lambda m: m.id)
        adults_left[0].is_contact = True
    if not (changed or removed or added_id):
        return
    db.session.flush()
    ensure_vog_records(family, today=today, actor=actor)  # steungezin: a new adult, or a child now 18
    record("family.household_changed", actor, object_type="family", object_id=family.id,
           details={"changed": sorted(changed), "removed": sorted(removed), "added": added_id})
