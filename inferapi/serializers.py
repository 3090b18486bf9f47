from rest_framework import serializers

MAX_TOP_K = 10


class ClassifyInputSerializer(serializers.Serializer):
    image = serializers.FileField(
        allow_empty_file=True,
        help_text="JPEG, PNG, WebP, GIF or BMP; recognised by content, not by name or type.",
    )
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, default=5)


class LabelOutputSerializer(serializers.Serializer):
    label = serializers.CharField()
    score = serializers.FloatField(min_value=0, max_value=1)


class ModelOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()


class TimingOutputSerializer(serializers.Serializer):
    total = serializers.FloatField(help_text="Milliseconds in the API, model call included.")
    model = serializers.FloatField(help_text="Milliseconds spent in the model.")


class ClassifyOutputSerializer(serializers.Serializer):
    predictions = LabelOutputSerializer(many=True, help_text="Sorted by score, highest first.")
    model = ModelOutputSerializer()
    request_id = serializers.CharField()
    timing_ms = TimingOutputSerializer()
