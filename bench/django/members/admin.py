from django.contrib import admin

from .models import AccessPolicy, Member


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["first_name", "last_name", "email", "role", "admin", "access_policy", "status", "mfa", "last_signin"]
    list_filter = ["status", "role", "admin", "mfa"]
    search_fields = ["first_name", "last_name", "email"]
    list_select_related = ["access_policy"]
    list_per_page = 50


admin.site.register(AccessPolicy)
