from rest_framework import serializers


class TokenOutputSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="The JWT to send as `Authorization: Bearer <access>`.")
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the token expires.")
    visitor_id = serializers.CharField()
