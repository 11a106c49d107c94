from django.db import models


class AccessPolicy(models.Model):
    name = models.CharField(max_length=128)

    def __str__(self):
        return self.name


class Member(models.Model):
    """One row per member, with the columns Rollcall's Users tab shows."""

    ROLES = [("Practitioner", "Practitioner"), ("RelatedPerson", "Related person"), ("Patient", "Patient")]
    STATUSES = [("active", "Active"), ("invited", "Invited")]

    first_name = models.CharField(max_length=128)
    last_name = models.CharField(max_length=128)
    email = models.CharField(max_length=254, db_index=True)
    role = models.CharField(max_length=16, choices=ROLES)
    admin = models.BooleanField(default=False)
    access_policy = models.ForeignKey(AccessPolicy, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=8, choices=STATUSES)
    mfa = models.BooleanField(default=False)
    last_signin = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["last_name", "first_name"])]
        ordering = ["last_name", "first_name", "id"]

    def __str__(self):
        return f"{self.first_name} {self.last_name}"
