"""Fills the table with N members drawn from the same name lists as `rollcall seed`."""
import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from members.models import AccessPolicy, Member

FIRST = ["Ada", "Grace", "José", "María", "Élodie", "Zoë", "Søren", "Łukasz", "Ngozi", "Aiko", "Björn", "François", "Siobhán", "Dmitri", "Priya", "Wei", "Fatima", "Mohammed", "Olga", "Leilani", "Kwame", "Inès", "Noah", "Emma", "Liam", "Olivia", "Lucía", "Mateo", "João", "Chloé", "Mårten", "Ayşe", "Nguyễn Thị", "Hana", "Tomás", "Anaïs", "Jürgen", "Ravi", "Sofía", "Yusuf", "Алексей", "Мария", "王芳", "さくら", "Δημήτρης", "אורי", "محمد", "Thabo", "Aroha", "Ingrid"]
LAST = ["García", "Müller", "Nguyễn", "O'Brien", "Kowalski", "Øvergaard", "Dubois", "Rossi", "Silva", "Smith", "Johnson", "Kim", "Tanaka", "Okafor", "Andersson", "Novák", "Papadopoulos", "Иванов", "Петрова", "张", "佐藤", "Cohen", "Haddad", "Hopper", "Lovelace", "Fernández", "Łukaszewicz", "Núñez", "Şahin", "Mbeki", "Walker", "Patel", "Ó Súilleabháin", "Van der Berg", "Lefèvre", "Björklund", "Yamamoto", "Okonkwo", "Kovačević", "Dąbrowski"]


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("count", type=int)

    def handle(self, count, **options):
        policies = [AccessPolicy.objects.create(name=n) for n in ("Front desk", "Clinicians", "Patients (own record)")]
        now = timezone.now()
        rows = []
        for i in range(count):
            first, last = random.choice(FIRST), random.choice(LAST)
            role = random.choices(["Practitioner", "RelatedPerson", "Patient"], [70, 8, 22])[0]
            invited = random.random() < 0.12
            rows.append(
                Member(
                    first_name=first,
                    last_name=last,
                    email=f"member.{i}@seed.example",
                    role=role,
                    admin=role == "Practitioner" and random.random() < 0.03,
                    access_policy=policies[2] if role == "Patient" else (policies[0] if random.random() < 0.3 else None),
                    status="invited" if invited else "active",
                    mfa=not invited and random.random() < 0.15,
                    last_signin=None if invited else now - timedelta(minutes=random.randrange(1, 525600)),
                )
            )
            if len(rows) == 5000:
                Member.objects.bulk_create(rows)
                rows = []
        Member.objects.bulk_create(rows)
