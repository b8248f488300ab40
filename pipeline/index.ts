import { DeliveryPipeline } from "../components/delivery-pipeline";
import { loadPipelineSettings, pipelineArgs } from "./settings";

const settings = loadPipelineSettings();
const delivery = new DeliveryPipeline("delivery", pipelineArgs(settings));

export const pipelineName = delivery.pipeline.name;
export const artifactBucket = delivery.artifactBucket.id;
export const connectionArn = delivery.connectionArn;
export const deployRoleArn = delivery.deployRole.arn;
/** The stages' `platform:roleBoundary`: every role of the application's stacks carries it. */
export const applicationBoundaryArn = delivery.applicationBoundary.arn;
