"""The mails aftercare sends, in Dutch: (subject, body) pairs.

They name the placement, region, dates and hours, never the candidate: a mail
leaves the system, and the coach finds who it is in their own case file.
"""

from __future__ import annotations

from aftercare import domain
from aftercare.models import AftercarePlan, AftercareTask, CoachingOrganisation, Jobcoach

KIND_WORDS = {
    "first_working_day": "belmoment eerste werkdag",
    "week_1": "bezoek week 1",
    "week_4": "gesprek week 4",
    "end_of_probation": "einde proeftijd",
    "month_3": "evaluatie maand 3",
    "month_6": "evaluatie maand 6",
    "month_12": "evaluatie maand 12",
    "month_18": "evaluatie maand 18",
    "check_in": "extra contact (plaatsing onder druk)",
}


def kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind.replace("_", " "))


def _hours(h: float) -> str:
    return f"{h:g}".replace(".", ",") + " uur"


def _task_lines(tasks: list[AftercareTask]) -> str:
    return "\n".join(f"  - {t.due:%d-%m-%Y}  {kind_words(t.kind)} ({_hours(t.hours)})"
                     for t in tasks if t.status == "open")


def _budget(plan: AftercarePlan) -> str:
    years = ", ".join(f"jaar {i + 1}: {_hours(h)}" for i, h in enumerate(plan.budget_hours))
    return f"Budget jobcoaching (UWV-norm, {plan.hours_per_week} uur per week in dienst): {years}."


def new_plan(plan: AftercarePlan, tasks: list[AftercareTask], coach: Jobcoach) -> tuple[str, str]:
    subject = f"Nieuw nazorgplan: plaatsing {plan.placement_id[:8]} ({plan.region})"
    body = (f"Beste {coach.name},\n\n"
            f"Er is een plaatsing vastgelegd in {plan.region}, start {plan.start_date:%d-%m-%Y}. "
            f"Jij bent de jobcoach voor de nazorg. De afspraken:\n\n{_task_lines(tasks)}\n\n"
            f"{_budget(plan)}\n\nPlaatsing: {plan.placement_id}\nNazorgplan: {plan.id}\n\n— werkbrug\n")
    return subject, body


def task_assigned(task: AftercareTask, coach: Jobcoach, assignment: str) -> tuple[str, str]:
    why = ("De plaatsing staat onder druk: plan binnen een week een extra contact."
           if assignment == domain.CHECK_IN else "Je coördinator heeft deze taak aan jou toegewezen.")
    subject = f"Nazorgtaak: {kind_words(task.kind)} vóór {task.due:%d-%m-%Y}"
    body = (f"Beste {coach.name},\n\n{why}\n\n  - {task.due:%d-%m-%Y}  {kind_words(task.kind)} "
            f"({_hours(task.hours)})\n\nPlaatsing: {task.placement_id}\nTaak: {task.id}\n\n— werkbrug\n")
    return subject, body


def task_overdue(task: AftercareTask, coach: Jobcoach | None, organisation: CoachingOrganisation) -> tuple[str, str]:
    holder = f"jobcoach {coach.name}" if coach else "niemand (geen jobcoach met ruimte)"
    subject = f"Escalatie: nazorgtaak te laat ({kind_words(task.kind)}, {task.due:%d-%m-%Y})"
    body = (f"Aan de coördinator van {organisation.name},\n\n"
            f"De nazorgtaak '{kind_words(task.kind)}' had op {task.due:%d-%m-%Y} gedaan moeten zijn en staat nog "
            f"open. Toegewezen aan: {holder}.\n\nPlaatsing: {task.placement_id}\nTaak: {task.id}\n\n— werkbrug\n")
    return subject, body


def tasks_overdue(overdue: list[tuple[AftercareTask, Jobcoach | None]],
                  organisation: CoachingOrganisation) -> tuple[str, str]:
    """One mail for the tasks a sweep found overdue at once (after a quiet spell, hundreds):
    each line the due date, the task, who holds it, the placement and the task's id."""
    lines = "\n".join(
        f"  - {task.due:%d-%m-%Y}  {kind_words(task.kind)}, "
        f"{f'jobcoach {coach.name}' if coach else 'niemand (geen jobcoach met ruimte)'}\n"
        f"    plaatsing {task.placement_id}, taak {task.id}"
        for task, coach in sorted(overdue, key=lambda tc: (tc[0].due, tc[0].id)))
    subject = f"Escalatie: {len(overdue)} nazorgtaken te laat"
    body = (f"Aan de coördinator van {organisation.name},\n\n"
            f"Deze {len(overdue)} nazorgtaken hadden op de genoemde datum gedaan moeten zijn en staan nog open:\n\n"
            f"{lines}\n\n— werkbrug\n")
    return subject, body


def unassigned_plan(plan: AftercarePlan, tasks: list[AftercareTask],
                    organisation: CoachingOrganisation) -> tuple[str, str]:
    subject = f"Escalatie: nazorgplan zonder jobcoach ({plan.region})"
    body = (f"Aan de coördinator van {organisation.name},\n\n"
            f"Voor een plaatsing in {plan.region} (start {plan.start_date:%d-%m-%Y}) had geen enkele jobcoach "
            f"ruimte. Het nazorgplan is aangemaakt maar niet toegewezen; wijs het toe in werkbrug.\n\n"
            f"{_task_lines(tasks)}\n\n{_budget(plan)}\n\nPlaatsing: {plan.placement_id}\nNazorgplan: {plan.id}\n\n"
            f"— werkbrug\n")
    return subject, body
